// Serialization failures only happen under a stricter server default than
// READ COMMITTED, where concurrent writes of one session collide on its
// counter row: a few tries with a short random pause spread them out.
const RETRIES = 10

const pause = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * attempt))

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  // serialization_failure, deadlock_detected
  return code === '40001' || code === '40P01'
}

/**
 * Runs `body` again (up to ten times in all, after a short random pause,
 * calling `onRetry` first) while it fails with a serialization failure or a deadlock.
 */
export async function retrying<R>(
  body: () => Promise<R>,
  onRetry?: (error: unknown) => void,
): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await body()
    } catch (error) {
      if (attempt >= RETRIES || !isRetryable(error)) throw error
      onRetry?.(error)
      await pause(attempt)
    }
  }
}
