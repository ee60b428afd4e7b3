"""The jobs API's gRPC contract in process: its `google.api.http` annotations name exactly the
gateway's REST routes, a JobSpec's typed config is stored as the REST form's JSON would be,
and a job record reads the same as a `Job` message as it does as JSON. (JobService over real
channels is test_jobs_grpc.py.)"""

import json
import re
from datetime import UTC, datetime

import pytest

from paneas.asr.v1 import asr_pb2
from paneas.gateway.jobs import serving
from paneas.gateway.transcoding.rules import http_bindings
from paneas.jobs.v1 import jobs_pb2
from paneas.ocr.v1 import ocr_pb2
from paneas.services.jobs.convert import config_values, job_message, spec_type
from tests.jobs.test_jobs_api import OWNER, client, create, headers  # noqa: F401

JOB_SERVICE = "paneas.jobs.v1.JobService"


def _path(template: str) -> str:
    """`/api/v1/jobs/{id}` and `/api/v1/jobs/{job_id}` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", template)


def test_the_annotations_name_exactly_the_rest_routes(client):  # noqa: F811
    annotated = {
        (binding.verb, _path(binding.template))
        for binding in http_bindings()
        if binding.service.full_name == JOB_SERVICE
    }
    # CreateJob's POST too: rules.py leaves client-streaming methods out, as grpc-gateway
    # binds them to no plain HTTP call.
    method = jobs_pb2.DESCRIPTOR.services_by_name["JobService"].methods_by_name["CreateJob"]
    assert method.client_streaming
    annotated.add(("POST", "/api/v1/jobs"))
    paths = client.app.openapi()["paths"]
    served = {
        (verb.upper(), _path(path))
        for path, operations in paths.items()
        if path.startswith("/api/v1/jobs")
        for verb in operations
    }
    assert annotated == served
    # The hand-written routes answer them: the gateway transcodes no JobService call (the
    # JSON shapes of /api/v1/jobs are not protobuf JSON).
    operations = [operation for path in paths.values() for operation in path.values()]
    assert not [op for op in operations if op["operationId"].startswith("JobService_")]


def test_every_annotated_method_is_bound():
    service = jobs_pb2.DESCRIPTOR.services_by_name["JobService"]
    bound = {b.method.name for b in http_bindings() if b.service.full_name == JOB_SERVICE}
    assert bound == {method.name for method in service.methods} - {"CreateJob"}


@pytest.mark.parametrize(
    ("spec", "rest_config"),
    [
        (jobs_pb2.JobSpec(), {}),
        (
            jobs_pb2.JobSpec(
                transcription=jobs_pb2.TranscriptionConfig(
                    language="pt",
                    task=asr_pb2.TASK_TRANSLATE,
                    word_timestamps=True,
                    vad_filter=False,
                    hotwords=["Paneas", "Envoy"],
                    temperature=0.2,
                    beam_size=5,
                    multichannel=True,
                    diarize=True,
                    max_speakers=3,
                )
            ),
            {
                "language": "pt",
                "task": "translate",
                "word_timestamps": True,
                "vad_filter": False,
                "hotwords": "Paneas, Envoy",
                "temperature": 0.2,
                "beam_size": 5,
                "multichannel": True,
                "diarize": True,
                "max_speakers": 3,
            },
        ),
        (
            jobs_pb2.JobSpec(
                type=jobs_pb2.JOB_TYPE_OCR,
                ocr=jobs_pb2.OcrConfig(
                    languages=["pt", "en"],
                    engine=ocr_pb2.ENGINE_RAPIDOCR,
                    pages="1-3,7",
                    dpi=300,
                    text_layer_policy=ocr_pb2.TEXT_LAYER_POLICY_FORCE_OCR,
                ),
            ),
            {
                "languages": "pt,en",
                "engine": "rapidocr",
                "pages": "1-3,7",
                "dpi": 300,
                "text_layer": "force_ocr",
            },
        ),
    ],
)
def test_a_spec_is_stored_as_the_rest_forms_config(client, spec, rest_config):  # noqa: F811
    jobs = client.app.state.jobs
    job_type = spec_type(spec)
    from_grpc = serving.parse_config(jobs, job_type, config_values(spec, job_type))
    from_rest = serving.parse_config(jobs, job_type, rest_config)
    assert from_grpc.model_dump_json() == from_rest.model_dump_json()


def test_a_job_reads_the_same_as_a_message_and_as_json(client):  # noqa: F811
    config = {"language": "en", "hotwords": ["Paneas"], "temperature": 0.5}
    shown = create(client, config=json.dumps(config)).json()
    jobs = client.app.state.jobs
    row = client.portal.call(jobs.store.get, shown["id"])
    job = job_message(row)
    assert job.id == shown["id"] and job.type == jobs_pb2.JOB_TYPE_TRANSCRIPTION
    assert job.status == jobs_pb2.JOB_STATUS_QUEUED and job.progress == shown["progress"]
    assert job.created_at.ToDatetime(UTC) == datetime.fromisoformat(shown["created_at"])
    assert not job.HasField("started_at") and not job.HasField("finished_at")
    assert job.input.filename == shown["input"]["filename"]
    assert job.input.bytes == shown["input"]["bytes"]
    assert not job.input.HasField("duration_seconds")
    stored = job.transcription_config
    assert stored.language == "en" and list(stored.hotwords) == ["Paneas"]
    assert stored.temperature == 0.5 and stored.vad_filter is True
    assert stored.task == asr_pb2.TASK_TRANSCRIBE
    assert job.WhichOneof("result") is None
    assert not job.HasField("error") and not job.HasField("webhook")
    listed = client.get("/api/v1/jobs", headers=headers(OWNER)).json()["data"]
    assert [each["id"] for each in listed] == [job.id]


def test_an_ended_job_carries_its_error_and_result_in_the_message(client):  # noqa: F811
    jobs = client.app.state.jobs
    failed = create(client).json()["id"]
    client.portal.call(jobs.store.fail, failed, "invalid_audio", "the audio could not be decoded")
    job = job_message(client.portal.call(jobs.store.get, failed))
    assert job.status == jobs_pb2.JOB_STATUS_FAILED and job.finished_at.seconds > 0
    assert (job.error.code, job.error.message) == (
        "invalid_audio",
        "the audio could not be decoded",
    )

    transcript = asr_pb2.RecognizeResponse(text=" Hello.", language="en", duration_seconds=1.5)
    job = job_message(client.portal.call(jobs.store.get, failed), transcript)
    assert job.WhichOneof("result") == "transcription" and job.transcription.text == " Hello."
    document = ocr_pb2.RecognizeResponse(text="page", document_page_count=1)
    assert job_message(client.portal.call(jobs.store.get, failed), document).document.text == "page"
