package io.loraops.trainer.serve;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * The server's Prometheus metrics, written by hand in the text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): request counts, errors and
 * durations per model, adapter load durations per adapter, load results and the adapters held.
 */
final class ServeMetrics {
  static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
  private static final double[] REQUEST_BUCKETS = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
  };
  private static final double[] LOAD_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  private final Map<String, LongAdder> requests = new ConcurrentSkipListMap<>();
  private final Map<String, LongAdder> errors = new ConcurrentSkipListMap<>();
  private final Map<String, Histogram> durations = new ConcurrentSkipListMap<>();
  private final Map<String, Histogram> loadDurations = new ConcurrentSkipListMap<>();
  private final Map<String, LongAdder> loads = new ConcurrentSkipListMap<>();
  private final LongAdder unloads = new LongAdder();
  private final IntSupplier adaptersLoaded;

  ServeMetrics(String baseModel, IntSupplier adaptersLoaded) {
    this.adaptersLoaded = adaptersLoaded;
    requests.put(baseModel, new LongAdder());
    errors.put(baseModel, new LongAdder());
    loads.put("success", new LongAdder());
    loads.put("failure", new LongAdder());
  }

  /** One completion request for {@code model} that took {@code seconds}. */
  void request(String model, double seconds, boolean failed) {
    requests.computeIfAbsent(model, k -> new LongAdder()).increment();
    LongAdder e = errors.computeIfAbsent(model, k -> new LongAdder());
    if (failed) {
      e.increment();
    }
    durations.computeIfAbsent(model, k -> new Histogram(REQUEST_BUCKETS)).observe(seconds);
  }

  /** One load_lora_adapter call for {@code adapter}. */
  void adapterLoad(String adapter, double seconds, boolean succeeded) {
    loads.get(succeeded ? "success" : "failure").increment();
    if (succeeded) {
      loadDurations.computeIfAbsent(adapter, k -> new Histogram(LOAD_BUCKETS)).observe(seconds);
    }
  }

  void adapterUnload() {
    unloads.increment();
  }

  /** All metrics in the text format. */
  String render() {
    StringBuilder out = new StringBuilder();
    header(out, "lora_serve_requests_total", "counter", "Completion requests by model.");
    requests.forEach((m, n) -> sample(out, "lora_serve_requests_total", "model", m, n.sum()));
    header(
        out,
        "lora_serve_request_errors_total",
        "counter",
        "Completion requests answered with an error, by model.");
    errors.forEach((m, n) -> sample(out, "lora_serve_request_errors_total", "model", m, n.sum()));
    header(
        out,
        "lora_serve_request_duration_seconds",
        "histogram",
        "Completion request duration by model.");
    durations.forEach((m, h) -> h.render(out, "lora_serve_request_duration_seconds", "model", m));
    header(
        out,
        "lora_serve_adapter_load_duration_seconds",
        "histogram",
        "Duration of successful adapter loads (read, check, swap in), by adapter name.");
    loadDurations.forEach(
        (a, h) -> h.render(out, "lora_serve_adapter_load_duration_seconds", "adapter", a));
    header(
        out,
        "lora_serve_adapter_loads_total",
        "counter",
        "load_lora_adapter calls by result (success, failure).");
    loads.forEach((r, n) -> sample(out, "lora_serve_adapter_loads_total", "result", r, n.sum()));
    header(out, "lora_serve_adapter_unloads_total", "counter", "Adapters unloaded.");
    out.append("lora_serve_adapter_unloads_total ").append(unloads.sum()).append('\n');
    header(out, "lora_serve_adapters_loaded", "gauge", "Adapters held now.");
    out.append("lora_serve_adapters_loaded ").append(adaptersLoaded.getAsInt()).append('\n');
    return out.toString();
  }

  private static void header(StringBuilder out, String name, String type, String help) {
    out.append("# HELP ").append(name).append(' ').append(help).append('\n');
    out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
  }

  private static void sample(StringBuilder out, String name, String label, String value, long n) {
    out.append(name).append('{').append(label).append("=\"").append(escape(value)).append("\"} ");
    out.append(n).append('\n');
  }

  static String escape(String labelValue) {
    return labelValue.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
  }

  private static String number(double d) {
    return d == Double.POSITIVE_INFINITY ? "+Inf" : String.format(Locale.ROOT, "%s", d);
  }

  /** A histogram with fixed upper bounds; rendered cumulative, as Prometheus expects. */
  private static final class Histogram {
    private final double[] bounds;
    private final AtomicLongArray counts; // per bucket, not cumulative; last = +Inf
    private final DoubleAdder sum = new DoubleAdder();

    Histogram(double[] bounds) {
      this.bounds = bounds;
      this.counts = new AtomicLongArray(bounds.length + 1);
    }

    void observe(double v) {
      int i = 0;
      while (i < bounds.length && v > bounds[i]) {
        i++;
      }
      counts.incrementAndGet(i);
      sum.add(v);
    }

    void render(StringBuilder out, String name, String label, String value) {
      String l = label + "=\"" + escape(value) + "\"";
      long cumulative = 0;
      for (int i = 0; i <= bounds.length; i++) {
        cumulative += counts.get(i);
        double le = i < bounds.length ? bounds[i] : Double.POSITIVE_INFINITY;
        out.append(name).append("_bucket{").append(l).append(",le=\"").append(number(le));
        out.append("\"} ").append(cumulative).append('\n');
      }
      out.append(name).append("_sum{").append(l).append("} ").append(sum.sum()).append('\n');
      out.append(name).append("_count{").append(l).append("} ").append(cumulative).append('\n');
    }
  }
}
