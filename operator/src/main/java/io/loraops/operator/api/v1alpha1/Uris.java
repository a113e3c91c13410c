package io.loraops.operator.api.v1alpha1;

/** The storage URIs the operator can mount into a trial pod. */
final class Uris {
  static final String SUPPORTED =
      "self.matches('^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/.*)?$') || self.matches('^file:///.*$')";
  static final String SUPPORTED_MESSAGE =
      "must be pvc://<claim>/<path> (a PersistentVolumeClaim in the job's namespace) or"
          + " file:///<path> (local mode); s3:// is not supported yet";

  private Uris() {}
}
