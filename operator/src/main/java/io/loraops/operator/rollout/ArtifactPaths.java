package io.loraops.operator.rollout;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.loraops.operator.trainer.StorageUri;
import java.util.Optional;

/**
 * Where a version's files appear inside an inference pod. Versions live on a claim ({@code
 * pvc://<claim>/<path>}); the server reads them through its own mount of that claim, so the path it
 * is given is the container's mountPath joined with the path inside the claim.
 */
public final class ArtifactPaths {
  private ArtifactPaths() {}

  /** A path inside the pod, or why there is none. */
  public record Resolved(String path, String problem) {
    static Resolved ok(String path) {
      return new Resolved(path, null);
    }

    static Resolved missing(String problem) {
      return new Resolved(null, problem);
    }

    public boolean ok() {
      return path != null;
    }
  }

  /** The container serving adapters: the named one, or the first. */
  public static Optional<Container> servingContainer(PodSpec pod, String name) {
    if (pod == null || pod.getContainers() == null || pod.getContainers().isEmpty()) {
      return Optional.empty();
    }
    if (name == null) {
      return Optional.of(pod.getContainers().get(0));
    }
    return pod.getContainers().stream().filter(c -> name.equals(c.getName())).findFirst();
  }

  public static Resolved inPod(PodSpec pod, String containerName, String artifactUri) {
    StorageUri uri = StorageUri.parse(artifactUri);
    if (!uri.isClaim()) {
      return Resolved.ok(uri.path()); // file:// is a node path, the same inside the pod
    }
    Optional<Container> container = servingContainer(pod, containerName);
    if (container.isEmpty()) {
      return Resolved.missing(
          "the pod template has no container "
              + (containerName == null ? "" : "named " + containerName));
    }
    Optional<Volume> volume =
        pod.getVolumes() == null
            ? Optional.empty()
            : pod.getVolumes().stream()
                .filter(
                    v ->
                        v.getPersistentVolumeClaim() != null
                            && uri.claim().equals(v.getPersistentVolumeClaim().getClaimName()))
                .findFirst();
    if (volume.isEmpty()) {
      return Resolved.missing(
          "the pod template mounts no volume of claim "
              + uri.claim()
              + ", which holds the adapter versions; add it (read-only is enough)");
    }
    for (VolumeMount mount : container.get().getVolumeMounts()) {
      if (!volume.get().getName().equals(mount.getName())) {
        continue;
      }
      String sub = StorageUri.trimSlashes(mount.getSubPath());
      String path = uri.path();
      if (sub.isEmpty()) {
        return Resolved.ok(join(mount.getMountPath(), path));
      }
      if (path.equals(sub) || path.startsWith(sub + "/")) {
        return Resolved.ok(join(mount.getMountPath(), path.substring(sub.length())));
      }
    }
    return Resolved.missing(
        "container "
            + container.get().getName()
            + " does not mount volume "
            + volume.get().getName()
            + " (claim "
            + uri.claim()
            + ") at a path that contains "
            + uri.path());
  }

  private static String join(String mountPath, String relative) {
    String base =
        mountPath.endsWith("/") ? mountPath.substring(0, mountPath.length() - 1) : mountPath;
    String rest = StorageUri.trimSlashes(relative);
    return rest.isEmpty() ? base : base + "/" + rest;
  }
}
