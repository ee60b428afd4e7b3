"""What the OpenAI-compatible routes (`/v1/...`) share: their wire models, their error body,
and language names as OpenAI writes them."""
