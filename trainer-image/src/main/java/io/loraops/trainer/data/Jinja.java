package io.loraops.trainer.data;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Jinja as transformers renders chat templates ({@code apply_chat_template}: a sandboxed Jinja2
 * environment with {@code trim_blocks}, {@code lstrip_blocks}, {@code raise_exception}, {@code
 * strftime_now} and a {@code tojson} with {@code ensure_ascii=False}), on HubSpot's Jinjava.
 *
 * <p>Jinjava is a Jinja dialect; what real chat templates use and Jinjava lacks is added here:
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
  private static final String RAISED = "raise_exception: ";
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
    resolver.add(new PythonStrings());
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
    g.registerFilter(new ToJson());
    g.registerFilter(new Trim());
    g.registerTag(new Generation());
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

  public static String raiseException(String message) {
    throw new IllegalStateException(RAISED + message);
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

  private static ELFunctionDefinition fn(String name, String method, Class<?>... params) {
    return new ELFunctionDefinition("", name, Jinja.class, method, params);
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

  /** Python's str methods on Java strings, as Jinja2 templates call them. */
  private static final class PythonStrings extends ELResolver {
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
  private static final class Generation implements Tag {
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
  private static final class Trim implements Filter {
    @Override
    public String getName() {
      return "trim";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      String s = var == null ? "" : var.toString();
      Object[] chars = args.length > 0 ? new Object[] {args[0]} : new Object[0];
      return PythonStrings.rstrip(PythonStrings.lstrip(s, chars), chars);
    }
  }

  /** Python's {@code json.dumps(x, ensure_ascii=False)}: ", " and ": " separators, as is. */
  private static final class ToJson implements Filter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      StringBuilder out = new StringBuilder();
      write(var, out);
      return out.toString();
    }

    private static void write(Object v, StringBuilder out) {
      if (v == null) {
        out.append("null");
      } else if (v instanceof Boolean || v instanceof Number) {
        out.append(v);
      } else if (v instanceof Map<?, ?> map) {
        out.append('{');
        String sep = "";
        for (Map.Entry<?, ?> e : map.entrySet()) {
          out.append(sep);
          write(String.valueOf(e.getKey()), out);
          out.append(": ");
          write(e.getValue(), out);
          sep = ", ";
        }
        out.append('}');
      } else if (v instanceof Iterable<?> list) {
        out.append('[');
        String sep = "";
        for (Object o : list) {
          out.append(sep);
          write(o, out);
          sep = ", ";
        }
        out.append(']');
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
  }
}
