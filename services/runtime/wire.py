"""Metadata keys that a service sends and its callers read, spelt once.

The gateway passes some of them on as HTTP headers of the same name (`x-paneas-model`,
`x-paneas-route`), so a rename here is a change of the public API.
"""

# Trailing metadata of a RESOURCE_EXHAUSTED refusal: milliseconds to wait before retrying.
RETRY_AFTER_MS = "retry-after-ms"

# Initial metadata of the LLM's Chat and StreamChat: the model that served (after routing and
# fallback) and why the router chose it (`explicit`, `auto:fast`, `fallback:<name>`).
SERVED_MODEL = "x-paneas-model"
SERVED_ROUTE = "x-paneas-route"

# Trailing metadata of an error the LLM service classified itself: OpenAI's error `code`
# (`context_length_exceeded`, `model_not_found`, ...) and `param`. Its presence also says the
# service answered, so an UNAVAILABLE carrying it is not a missing backend.
ERROR_CODE = "x-paneas-error-code"
ERROR_PARAM = "x-paneas-error-param"
