package io.loraops.operator.status;

import static org.assertj.core.api.Assertions.assertThat;

import io.loraops.contract.ExitCodes;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** docs/conditions.md and {@link Reasons} name the same reasons. */
class ReasonsDocTest {
  static final Path DOC = Path.of("../docs/conditions.md");

  /** Reasons the doc names that Kubernetes (the kubelet, the Job controller) writes, not we. */
  static final Set<String> KUBERNETES = Set.of("ImagePullBackOff", "ErrImagePull");

  static final Set<String> JOB_CONTROLLER = Set.of("DeadlineExceeded", "BackoffLimitExceeded");

  @Test
  void everyReasonTheOperatorWritesIsDocumented() throws Exception {
    String doc = Files.readString(DOC);
    for (String reason : constants()) {
      assertThat(doc).as("docs/conditions.md explains %s", reason).contains("`" + reason + "`");
    }
  }

  @Test
  void everyReasonTheDocNamesIsOneTheOperatorWrites() throws Exception {
    Set<String> known = new TreeSet<>(constants());
    for (int code : new int[] {ExitCodes.OTHER, ExitCodes.BAD_CONFIG, ExitCodes.DATA_ERROR}) {
      known.add(ExitCodes.reason(code));
    }
    known.addAll(KUBERNETES);
    known.addAll(JOB_CONTROLLER);
    assertThat(documented(Files.readAllLines(DOC))).isSubsetOf(known);
  }

  /** Backticked reasons in the reason column of the doc's tables, and in its Events lines. */
  static Set<String> documented(List<String> lines) {
    Set<String> reasons = new TreeSet<>();
    Pattern word = Pattern.compile("`([A-Z][A-Za-z]+)`");
    int column = -1;
    for (String line : lines) {
      if (!line.startsWith("|")) {
        column = -1;
        if (line.startsWith("Events:") || line.contains("`WithdrawIncomplete`")) {
          word.matcher(line).results().forEach(m -> reasons.add(m.group(1)));
        }
        continue;
      }
      String[] cells = line.split("\\|", -1);
      if (column < 0) {
        for (int i = 0; i < cells.length; i++) {
          if (cells[i].trim().equals("reason")) {
            column = i;
          }
        }
        continue;
      }
      if (column < cells.length) {
        Matcher m = word.matcher(cells[column]);
        while (m.find()) {
          reasons.add(m.group(1));
        }
      }
    }
    return reasons;
  }

  static List<String> constants() throws IllegalAccessException {
    List<String> values = new ArrayList<>();
    for (Field f : Reasons.class.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
        values.add((String) f.get(null));
      }
    }
    return values;
  }
}
