"""`summary: true` on a transcription job: the finished transcript goes to the LLM service
(GATEWAY_LLM_TARGET, as the gateway's) with the live streams' insights prompt and client
(`services/asr/insights.py`), so a job's summary and a stream's closing summary are worded
alike. The summary is an extra: when the LLM is absent, down or fails, the job succeeds with
its transcript and `summary_error` says why."""

import grpc
import structlog

from paneas.gateway.settings import GatewaySettings
from paneas.services.asr.insights import InsightClient, failure_reason
from paneas.services.runtime.settings import RuntimeSettings

log = structlog.get_logger("paneas.jobs.summary")


async def summarise(
    job_id: str, transcript: str, timeout_seconds: float, runtime: RuntimeSettings
) -> tuple[str | None, tuple[str, str] | None]:
    """The summary, or None and the (code, message) of why there is none."""
    if not transcript.strip():
        return "", None  # nothing was said: nothing to ask
    target = GatewaySettings().llm_target
    if not target:
        return None, (
            "failed_precondition",
            "no LLM service to summarise with: set GATEWAY_LLM_TARGET on the jobs worker",
        )
    # The first of API_TOKENS, as the job's other calls (`work.call_metadata`).
    client = InsightClient(target, runtime.api_tokens[0] if runtime.api_tokens else None)
    try:
        summary = await client.summarise(transcript, timeout_seconds)
    except Exception as error:
        code = error.code().name.lower() if isinstance(error, grpc.aio.AioRpcError) else "internal"
        reason = failure_reason(error, timeout_seconds)
        log.warning("job summary unavailable", job_id=job_id, llm=target, reason=reason)
        return None, (code, f"the LLM service at {target} gave no summary: {reason}")
    finally:
        await client.close()
    return summary.text, None
