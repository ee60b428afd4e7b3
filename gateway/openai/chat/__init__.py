"""OpenAI's chat completions and models API over paneas.llm.v1.LlmService: the wire models
(`protocol`), requests as protobufs (`convert`), answers in OpenAI's JSON (`render`), the
service's errors in OpenAI's body (`errors`), and the calls themselves (`serving`)."""
