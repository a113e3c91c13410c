package io.loraops.contract;

import java.util.List;

/**
 * The digest of an adapter, as trainer and operator both mean it: {@code sha256:<hex>} over the
 * bytes of the adapter files ({@link #FILES}) read in name order and concatenated, nothing else (no
 * names, no sizes, no manifest). Content-addressed: the same adapter gives the same digest in its
 * trial folder, its version folder or on another machine, so a copy is verified by recomputing it.
 */
public final class AdapterDigest {

  /** The PEFT adapter files a digest covers, in name order. */
  public static final List<String> FILES =
      List.of("adapter_config.json", "adapter_model.safetensors");

  public static final String PREFIX = "sha256:";

  private AdapterDigest() {}
}
