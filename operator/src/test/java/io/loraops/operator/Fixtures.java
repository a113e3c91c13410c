package io.loraops.operator;

import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** YAML fixtures from src/test/resources/fixtures, and golden files with an update switch. */
public final class Fixtures {
  private Fixtures() {}

  public static <T> T load(String name, Class<T> type) {
    return Serialization.unmarshal(read(Path.of("src/test/resources/fixtures", name)), type);
  }

  public static <T> T yaml(String yaml, Class<T> type) {
    return Serialization.unmarshal(yaml, type);
  }

  /**
   * The golden file's content; with {@code -Dgolden.update=true} the file is first rewritten with
   * {@code actual} (review the diff before committing it).
   */
  public static String golden(Path file, String actual) {
    if (Boolean.getBoolean("golden.update")) {
      try {
        Files.createDirectories(file.getParent());
        Files.writeString(file, actual, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return read(file);
  }

  static String read(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
