package io.loraops.operator.trainer;

import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns storage URIs into pod volumes and the local paths the trainer sees. Each claim is mounted
 * once (read-only unless the trial writes to it), so model, data and output may share a claim.
 */
final class TrialMounts {
  static final String CLAIMS_ROOT = "/lora/claims/";
  static final String FILES_ROOT = "/lora/files/";

  private final Map<String, Volume> volumes = new LinkedHashMap<>();
  private final Map<String, VolumeMount> mounts = new LinkedHashMap<>();

  /**
   * The path inside the pod where {@code uri} is found, adding its volume if needed.
   *
   * @param role what the URI holds (model, dataset, validation, output): names file:// volumes
   * @param writable whether the trainer writes there
   */
  String localPath(String uri, String role, boolean writable) {
    StorageUri parsed = StorageUri.parse(uri);
    if (parsed.isClaim()) {
      String volume =
          volumes.containsKey(parsed.claim())
              ? volumes.get(parsed.claim()).getName()
              : "claim-" + volumes.size();
      volumes.putIfAbsent(
          parsed.claim(),
          new VolumeBuilder()
              .withName(volume)
              .withNewPersistentVolumeClaim()
              .withClaimName(parsed.claim())
              .endPersistentVolumeClaim()
              .build());
      String mountPath = CLAIMS_ROOT + parsed.claim();
      VolumeMount previous = mounts.get(parsed.claim());
      boolean readOnly = !writable && (previous == null || previous.getReadOnly());
      mounts.put(
          parsed.claim(),
          new VolumeMountBuilder()
              .withName(volume)
              .withMountPath(mountPath)
              .withReadOnly(readOnly)
              .build());
      return parsed.path().isEmpty() ? mountPath : mountPath + "/" + parsed.path();
    }
    String volume = "file-" + role;
    String mountPath = FILES_ROOT + role;
    volumes.put(
        volume,
        new VolumeBuilder()
            .withName(volume)
            .withNewHostPath()
            .withPath(parsed.path())
            .withType(writable ? "DirectoryOrCreate" : null)
            .endHostPath()
            .build());
    mounts.put(
        volume,
        new VolumeMountBuilder()
            .withName(volume)
            .withMountPath(mountPath)
            .withReadOnly(!writable)
            .build());
    return mountPath;
  }

  List<Volume> volumes() {
    return new ArrayList<>(volumes.values());
  }

  List<VolumeMount> volumeMounts() {
    return new ArrayList<>(mounts.values());
  }
}
