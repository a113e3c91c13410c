package io.loraops.trainer.serve;

/**
 * A request the server answers with an error, in OpenAI's (and vLLM's) body {@code {"error":
 * {"message", "type", "param", "code"}}}.
 */
public final class ApiException extends RuntimeException {
  private final int status;
  private final String type;

  public ApiException(int status, String type, String message) {
    super(message);
    this.status = status;
    this.type = type;
  }

  /** 400 BadRequestError. */
  public static ApiException badRequest(String message) {
    return new ApiException(400, "BadRequestError", message);
  }

  /** 404 NotFoundError. */
  public static ApiException notFound(String message) {
    return new ApiException(404, "NotFoundError", message);
  }

  /** 500 InternalServerError. */
  public static ApiException internal(String message) {
    return new ApiException(500, "InternalServerError", message);
  }

  public int status() {
    return status;
  }

  public String type() {
    return type;
  }
}
