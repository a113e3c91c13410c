package io.loraops.nodeagent;

import java.util.Set;

/**
 * Pod IPs for local processes. Linux routes all of 127.0.0.0/8 to the loopback interface, so a
 * process can bind any address in it without configuration: each pod gets its own, from {@value
 * #FIRST} up to {@value #LAST}, and two replicas of a server can both listen on port 8000. The node
 * itself (hostIP) is {@value #HOST_IP}.
 *
 * <p>Addresses are handed out round-robin, like the host-local IPAM plugin: an address a deleted
 * pod just gave back is the last to be reused, so a replacement never races the old process's
 * sockets. Pure.
 */
final class PodIps {
  private PodIps() {}

  static final String HOST_IP = "127.0.0.1";
  static final String FIRST = "127.77.0.2";
  static final String LAST = "127.77.255.254";

  private static final long FIRST_N = toLong(FIRST);
  private static final long LAST_N = toLong(LAST);

  /**
   * The first address after {@code previous} (or from {@link #FIRST}, when null or out of range)
   * that is not in {@code inUse}, wrapping around at {@link #LAST}; addresses ending in .0 or .255
   * are skipped.
   *
   * @throws IllegalStateException if every address is in use
   */
  static String next(Set<String> inUse, String previous) {
    long size = LAST_N - FIRST_N + 1;
    long start = FIRST_N;
    if (previous != null && inRange(previous)) {
      start = toLong(previous) + 1;
    }
    for (long i = 0; i < size; i++) {
      long candidate = FIRST_N + Math.floorMod(start - FIRST_N + i, size);
      long lastOctet = candidate & 0xff;
      if (lastOctet == 0 || lastOctet == 255) {
        continue;
      }
      String ip = toString(candidate);
      if (!inUse.contains(ip)) {
        return ip;
      }
    }
    throw new IllegalStateException(
        "no free pod IP between " + FIRST + " and " + LAST + ": " + inUse.size() + " in use");
  }

  /** Whether {@code ip} is a pod address this agent hands out. */
  static boolean inRange(String ip) {
    try {
      long n = toLong(ip);
      return n >= FIRST_N && n <= LAST_N;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  static long toLong(String ip) {
    String[] parts = ip.split("\\.");
    if (parts.length != 4) {
      throw new IllegalArgumentException("not an IPv4 address: " + ip);
    }
    long n = 0;
    for (String p : parts) {
      int octet = Integer.parseInt(p);
      if (octet < 0 || octet > 255) {
        throw new IllegalArgumentException("not an IPv4 address: " + ip);
      }
      n = (n << 8) | octet;
    }
    return n;
  }

  static String toString(long n) {
    return ((n >> 24) & 0xff)
        + "."
        + ((n >> 16) & 0xff)
        + "."
        + ((n >> 8) & 0xff)
        + "."
        + (n & 0xff);
  }
}
