import { RequestMalformedError } from '@a2a-js/sdk/errors'
import type { OwnerResolver, ServerCallContext } from '@a2a-js/sdk/server'
import { isWellFormed } from '../../model/strings.js'

// Where an A2A task lives in the registry: its tenant, owner and context
// make the session id, each part URI-encoded so that no two collide. The
// store, the event buses and the executor wrapper all derive it here.

const MAX_SESSION_ID = 256

// encodeURIComponent throws a URIError on a lone surrogate: refuse it first, as the SDK's error.
function encoded(field: string, value: string): string {
  if (!isWellFormed(value)) {
    throw new RequestMalformedError(`${field}: must be well-formed UTF-16 (no lone surrogate)`)
  }
  return encodeURIComponent(value)
}

/** The SDK's owner rule: the authenticated user's name, else 'unknown'. */
export const defaultOwner: OwnerResolver = (context) => context.user?.userName || 'unknown'

/** The session prefix of one caller's tasks (`a2a/<tenant>/<owner>/`). */
export function a2aScope(context: ServerCallContext, ownerOf: OwnerResolver): string {
  const tenant = encoded('tenant', context.tenant ?? '')
  return `a2a/${tenant}/${encoded('owner', ownerOf(context))}/`
}

/** The session of a caller's context; throws the SDK's error when the id would be too long. */
export function a2aSessionId(
  context: ServerCallContext,
  ownerOf: OwnerResolver,
  contextId: string,
): string {
  const sessionId = a2aScope(context, ownerOf) + encoded('contextId', contextId)
  if (sessionId.length > MAX_SESSION_ID) {
    throw new RequestMalformedError(
      `contextId: tenant, owner and context id together must stay within ${MAX_SESSION_ID} characters once encoded`,
    )
  }
  return sessionId
}

/** The A2A context id a session id was made from. */
export function contextIdOf(sessionId: string): string {
  return decodeURIComponent(sessionId.slice(sessionId.lastIndexOf('/') + 1))
}
