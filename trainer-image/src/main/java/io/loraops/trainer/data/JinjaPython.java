package io.loraops.trainer.data;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * What transformers' Jinja environment offers chat templates (Python's Jinja2 and str semantics,
 * its {@code raise_exception}, {@code strftime_now}, {@code tojson}, {@code {% generation %}}) and
 * Jinjava does not, registered by {@link Jinja}.
 */
final class JinjaPython {
  private JinjaPython() {}

  public static String raiseException(String message) {
    throw new IllegalStateException(Jinja.RAISED + message);
  }

  /** Python's {@code strftime} directives that chat templates use, on the local clock. */
  public static String strftimeNow(String format) {
    ZonedDateTime now = ZonedDateTime.now();
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 == format.length()) {
        out.append(c);
        continue;
      }
      char d = format.charAt(++i);
      out.append(
          switch (d) {
            case 'd' -> String.format("%02d", now.getDayOfMonth());
            case 'm' -> String.format("%02d", now.getMonthValue());
            case 'Y' -> String.valueOf(now.getYear());
            case 'y' -> String.format("%02d", now.getYear() % 100);
            case 'H' -> String.format("%02d", now.getHour());
            case 'M' -> String.format("%02d", now.getMinute());
            case 'S' -> String.format("%02d", now.getSecond());
            case 'b' -> now.getMonth().getDisplayName(java.time.format.TextStyle.SHORT, Locale.US);
            case 'B' -> now.getMonth().getDisplayName(java.time.format.TextStyle.FULL, Locale.US);
            case 'a' ->
                now.getDayOfWeek().getDisplayName(java.time.format.TextStyle.SHORT, Locale.US);
            case 'A' ->
                now.getDayOfWeek().getDisplayName(java.time.format.TextStyle.FULL, Locale.US);
            case '%' -> "%";
            default -> throw new IllegalStateException("strftime_now: unsupported %" + d);
          });
    }
    return out.toString();
  }

  /** Python's str methods on Java strings, as Jinja2 templates call them. */
  static final class Strings extends ELResolver {
    @Override
    public Object invoke(
        ELContext context, Object base, Object method, Class<?>[] types, Object[] params) {
      if (!(base instanceof String s) || method == null) {
        return null;
      }
      Object[] p = params == null ? new Object[0] : params;
      Object result =
          switch (method.toString()) {
            case "startswith" -> p.length == 1 ? s.startsWith(String.valueOf(p[0])) : null;
            case "endswith" -> p.length == 1 ? s.endsWith(String.valueOf(p[0])) : null;
            case "strip" -> rstrip(lstrip(s, p), p);
            case "lstrip" -> lstrip(s, p);
            case "rstrip" -> rstrip(s, p);
            case "split" -> split(s, p);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            default -> null;
          };
      if (result != null) {
        context.setPropertyResolved(true);
      }
      return result;
    }

    private static boolean strips(int c, Object[] p) {
      return p.length == 0 || p[0] == null ? isSpace(c) : String.valueOf(p[0]).indexOf(c) >= 0;
    }

    private static String lstrip(String s, Object[] p) {
      int i = 0;
      while (i < s.length() && strips(s.charAt(i), p)) {
        i++;
      }
      return s.substring(i);
    }

    private static String rstrip(String s, Object[] p) {
      int j = s.length();
      while (j > 0 && strips(s.charAt(j - 1), p)) {
        j--;
      }
      return s.substring(0, j);
    }

    private static List<String> split(String s, Object[] p) {
      if (p.length == 0 || p[0] == null) {
        List<String> out = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        for (int i = 0; i <= s.length(); i++) {
          if (i == s.length() || isSpace(s.charAt(i))) {
            if (!word.isEmpty()) {
              out.add(word.toString());
              word.setLength(0);
            }
          } else {
            word.append(s.charAt(i));
          }
        }
        return out;
      }
      String sep = String.valueOf(p[0]);
      List<String> out = new ArrayList<>();
      int from = 0;
      for (int at; (at = s.indexOf(sep, from)) >= 0; from = at + sep.length()) {
        out.add(s.substring(from, at));
      }
      out.add(s.substring(from));
      return out;
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
      return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
      return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {}

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
      return true;
    }

    @Override
    public java.util.Iterator<java.beans.FeatureDescriptor> getFeatureDescriptors(
        ELContext context, Object base) {
      return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
      return null;
    }
  }

  /**
   * Python's {@code str.isspace()} for one character: Java's whitespace plus the no-break spaces
   * (U+00A0, U+2007, U+202F) and NEL (U+0085), which Java does not count.
   */
  static boolean isSpace(int c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c) || c == 0x85;
  }

  /**
   * transformers' {@code {% generation %}...{% endgeneration %}}: renders its body. The loss mask
   * is derived the same way with or without these marks (see {@link ChatFormat}).
   */
  static final class Generation implements Tag {
    @Override
    public String getName() {
      return "generation";
    }

    @Override
    public String getEndTagName() {
      return "endgeneration";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
      StringBuilder out = new StringBuilder();
      for (Node child : tagNode.getChildren()) {
        out.append(child.render(interpreter).getValue());
      }
      return out.toString();
    }
  }

  /** Jinja's {@code trim}: Python's {@code str.strip(chars)} (Jinjava's trims Java's way). */
  static final class Trim implements Filter {
    @Override
    public String getName() {
      return "trim";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      String s = var == null ? "" : var.toString();
      Object[] chars = args.length > 0 ? new Object[] {args[0]} : new Object[0];
      return Strings.rstrip(Strings.lstrip(s, chars), chars);
    }
  }

  /**
   * transformers' {@code tojson}: Python's {@code json.dumps(x, ensure_ascii=False, indent=...)}.
   * Without {@code indent} items are separated by ", " on one line; with it (Llama 3.1's tool
   * listing) each item is on its own line, indented per level, separated by ",". Other arguments
   * (separators, sort_keys) no real template uses; they fail the render rather than be ignored.
   */
  static final class ToJson implements AdvancedFilter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(
        Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
      if (args.length > 0 || kwargs.keySet().stream().anyMatch(k -> !k.equals("indent"))) {
        throw new IllegalArgumentException(
            "tojson takes only indent=N here, got " + List.of(args) + " " + kwargs.keySet());
      }
      Object indent = kwargs.get("indent");
      StringBuilder out = new StringBuilder();
      write(var, out, indent == null ? null : " ".repeat(((Number) indent).intValue()), "");
      return out.toString();
    }

    /** Writes {@code v}; {@code indent} null: one line; {@code at}: the current line's indent. */
    private static void write(Object v, StringBuilder out, String indent, String at) {
      if (v == null) {
        out.append("null");
      } else if (v instanceof Boolean || v instanceof Number) {
        out.append(v);
      } else if (v instanceof Map<?, ?> map) {
        List<Runnable> items = new ArrayList<>();
        String inner = indent == null ? at : at + indent;
        for (Map.Entry<?, ?> e : map.entrySet()) {
          items.add(
              () -> {
                write(String.valueOf(e.getKey()), out, indent, inner);
                out.append(": ");
                write(e.getValue(), out, indent, inner);
              });
        }
        container('{', '}', items, out, indent, at);
      } else if (v instanceof Iterable<?> list) {
        List<Runnable> items = new ArrayList<>();
        String inner = indent == null ? at : at + indent;
        for (Object o : list) {
          items.add(() -> write(o, out, indent, inner));
        }
        container('[', ']', items, out, indent, at);
      } else {
        String s = v.toString();
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
          char c = s.charAt(i);
          switch (c) {
            case '"' -> out.append("\\\"");
            case '\\' -> out.append("\\\\");
            case '\n' -> out.append("\\n");
            case '\r' -> out.append("\\r");
            case '\t' -> out.append("\\t");
            case '\b' -> out.append("\\b");
            case '\f' -> out.append("\\f");
            default -> {
              if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
              } else {
                out.append(c);
              }
            }
          }
        }
        out.append('"');
      }
    }

    /** Brackets around {@code items} as json.dumps lays them out; empty ones stay "[]" / "{}". */
    private static void container(
        char open, char close, List<Runnable> items, StringBuilder out, String indent, String at) {
      out.append(open);
      for (int i = 0; i < items.size(); i++) {
        out.append(i == 0 ? "" : indent == null ? ", " : ",");
        if (indent != null) {
          out.append('\n').append(at).append(indent);
        }
        items.get(i).run();
      }
      if (indent != null && !items.isEmpty()) {
        out.append('\n').append(at);
      }
      out.append(close);
    }
  }
}
