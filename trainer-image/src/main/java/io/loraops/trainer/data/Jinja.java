package io.loraops.trainer.data;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.javax.el.CompositeELResolver;

/**
 * Jinja as transformers renders chat templates ({@code apply_chat_template}: a sandboxed Jinja2
 * environment with {@code trim_blocks}, {@code lstrip_blocks}, {@code raise_exception}, {@code
 * strftime_now} and a {@code tojson} with {@code ensure_ascii=False}), on HubSpot's Jinjava.
 *
 * <p>Jinjava is a Jinja dialect; what real chat templates use and Jinjava lacks is added here and
 * in {@link JinjaPython}:
 *
 * <ul>
 *   <li>Python string methods ({@code startswith}, {@code endswith}, {@code strip}/{@code
 *       lstrip}/{@code rstrip} with characters, {@code split}, {@code upper}, {@code lower}): a
 *       method resolver in front of Jinjava's.
 *   <li>Whitespace control on expressions ({@code {{- x -}}}): Jinjava keeps the whitespace, so the
 *       source is rewritten to move it inside the tag (line numbers stay those of the template).
 *   <li>{@code {% generation %}} blocks (transformers' assistant marks) render their body.
 *   <li>One newline at the end of the template is dropped ({@code keep_trailing_newline=False}).
 *   <li>{@code seq[::-1]} becomes {@code seq|reverse}; {@code namespace(a=x - 1)} gets its values
 *       parenthesized (Jinjava binds {@code a=x} before the arithmetic).
 * </ul>
 *
 * A template the engine cannot render is reported with its line; {@code raise_exception} is the
 * template refusing a conversation, a different error ({@link Raised}).
 */
final class Jinja {
  static final String RAISED = "raise_exception: ";
  private static final Pattern OPEN_WS = Pattern.compile("(\\s*)\\{\\{-");
  private static final Pattern CLOSE_WS = Pattern.compile("-}}(\\s*)");
  private static final Pattern NAMESPACE = Pattern.compile("namespace\\(");

  /** The template called {@code raise_exception(message)}. */
  static final class Raised extends RuntimeException {
    Raised(String message) {
      super(message);
    }
  }

  /** The engine could not render the template (syntax, unknown function or method). */
  static final class Unrenderable extends RuntimeException {
    final int line;

    Unrenderable(String message, int line) {
      super(message);
      this.line = line;
    }
  }

  private final Jinjava jinjava;

  Jinja() {
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new JinjaPython.Strings());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
    jinjava =
        new Jinjava(
            JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withElResolver(resolver)
                .build());
    var g = jinjava.getGlobalContext();
    g.registerFunction(fn("raise_exception", "raiseException", String.class));
    g.registerFunction(fn("strftime_now", "strftimeNow", String.class));
    g.registerFilter(new JinjaPython.ToJson());
    g.registerFilter(new JinjaPython.Trim());
    g.registerTag(new JinjaPython.Generation());
  }

  /** {@code source} rewritten into the Jinjava dialect (see the class comment). */
  static String dialect(String source) {
    StringBuilder s = new StringBuilder();
    Matcher m = OPEN_WS.matcher(source);
    while (m.find()) {
      m.appendReplacement(s, Matcher.quoteReplacement("{{" + newlines(m.group(1))));
    }
    m.appendTail(s);
    String out = s.toString();
    s = new StringBuilder();
    m = CLOSE_WS.matcher(out);
    while (m.find()) {
      m.appendReplacement(s, Matcher.quoteReplacement(newlines(m.group(1)) + "}}"));
    }
    m.appendTail(s);
    out = parenthesizeNamespaceArgs(s.toString().replace("[::-1]", "|reverse"));
    // keep_trailing_newline=False: Jinja drops one newline at the end of the template
    return out.endsWith("\n") ? out.substring(0, out.length() - 1) : out;
  }

  /**
   * Renders {@code dialectSource} (already through {@link #dialect}).
   *
   * @throws Raised when the template called raise_exception
   * @throws Unrenderable when the engine failed
   */
  String render(String dialectSource, Map<String, Object> context) {
    RenderResult r = jinjava.renderForResult(dialectSource, context);
    for (TemplateError e : r.getErrors()) {
      if (e.getSeverity() != TemplateError.ErrorType.FATAL) {
        continue;
      }
      for (Throwable t = e.getException(); t != null; t = t.getCause()) {
        String m = String.valueOf(t.getMessage());
        if (m.startsWith(RAISED)) {
          throw new Raised(m.substring(RAISED.length()));
        }
      }
      throw new Unrenderable(String.valueOf(e.getMessage()), line(dialectSource, e));
    }
    return r.getOutput();
  }

  /**
   * The template line of {@code e}: where the failing expression first occurs (Jinjava's own line
   * number can point at the enclosing block), else Jinjava's.
   */
  private static int line(String source, TemplateError e) {
    String field = e.getFieldName() == null ? "" : e.getFieldName().trim();
    if (field.startsWith("[") && field.endsWith("]")) {
      field = field.substring(1, field.length() - 1).trim();
    }
    int at = field.length() > 2 ? source.indexOf(field) : -1;
    return at < 0
        ? e.getLineno()
        : 1 + (int) source.substring(0, at).chars().filter(c -> c == '\n').count();
  }

  private static ELFunctionDefinition fn(String name, String method, Class<?>... params) {
    return new ELFunctionDefinition("", name, JinjaPython.class, method, params);
  }

  private static String newlines(String whitespace) {
    return "\n".repeat((int) whitespace.chars().filter(c -> c == '\n').count());
  }

  /** {@code namespace(a=x - 1, b=y)} -> {@code namespace(a=(x - 1), b=(y))}. */
  private static String parenthesizeNamespaceArgs(String source) {
    StringBuilder out = new StringBuilder();
    Matcher m = NAMESPACE.matcher(source);
    int from = 0;
    while (m.find(from)) {
      int open = m.end();
      int depth = 1;
      int close = open;
      List<String> args = new ArrayList<>();
      int argStart = open;
      char quote = 0;
      for (; close < source.length() && depth > 0; close++) {
        char c = source.charAt(close);
        if (quote != 0) {
          quote = c == quote ? 0 : quote;
        } else if (c == '\'' || c == '"') {
          quote = c;
        } else if (c == '(' || c == '[' || c == '{') {
          depth++;
        } else if (c == ')' || c == ']' || c == '}') {
          depth--;
        } else if (c == ',' && depth == 1) {
          args.add(source.substring(argStart, close));
          argStart = close + 1;
        }
      }
      if (depth != 0) {
        break; // unbalanced: leave it to the engine to report
      }
      args.add(source.substring(argStart, close - 1));
      out.append(source, from, open);
      List<String> wrapped = new ArrayList<>();
      for (String a : args) {
        int eq = a.indexOf('=');
        wrapped.add(
            eq > 0 && a.substring(0, eq).trim().matches("\\w+")
                ? a.substring(0, eq + 1) + "(" + a.substring(eq + 1) + ")"
                : a);
      }
      out.append(String.join(",", wrapped)).append(')');
      from = close;
    }
    return out.append(source.substring(from)).toString();
  }
}
