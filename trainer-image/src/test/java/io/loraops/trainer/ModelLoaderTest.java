package io.loraops.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.loraops.trainer.model.CausalLM;
import io.loraops.trainer.model.ModelLoader;
import io.loraops.trainer.model.SafeTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading HF folders: a sharded checkpoint gives the same model as a single file. */
class ModelLoaderTest {
  @TempDir Path tmp;

  private static float[] logits(CausalLM model) {
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      long[] ids = {3, 17, 42, 99, 5, 8, 120, 64};
      return model.forward(model.manager().create(ids, new Shape(2, 4)), false).toFloatArray();
    }
  }

  @Test
  void shardedSafetensorsWithIndexLoadLikeOneFile() throws Exception {
    Path src = Fixtures.model("tiny-llama");
    Path dir = tmp.resolve("sharded");
    Files.createDirectories(dir);
    for (String f : List.of("config.json", "tokenizer.json")) {
      Files.copy(src.resolve(f), dir.resolve(f));
    }
    try (NDManager m = NDManager.newBaseManager()) {
      SafeTensors st = SafeTensors.open(src.resolve("model.safetensors"));
      Map<String, NDArray> a = new LinkedHashMap<>();
      Map<String, NDArray> b = new LinkedHashMap<>();
      StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
      int i = 0;
      for (String k : st.entries().keySet()) {
        String shard =
            i % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        (i % 2 == 0 ? a : b).put(k, st.load(k, m));
        index
            .append(i == 0 ? "" : ",")
            .append('"')
            .append(k)
            .append("\":\"")
            .append(shard)
            .append('"');
        i++;
      }
      SafeTensors.write(dir.resolve("model-00001-of-00002.safetensors"), a, Map.of("format", "pt"));
      SafeTensors.write(dir.resolve("model-00002-of-00002.safetensors"), b, Map.of("format", "pt"));
      Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}").toString());
      float[] single = logits(ModelLoader.load(src, m));
      float[] sharded = logits(ModelLoader.load(dir, m));
      assertThat(sharded).containsExactly(single);
    }
  }
}
