"""The jobs service: `paneas.jobs.v1.JobService`, the gRPC face of the durable jobs API
(`/api/v1/jobs`) on the shared runtime (health, reflection, bearer auth, metrics, graceful
shutdown). It does no job itself: like the gateway's REST routes it stores uploads, records
jobs and queues them through `paneas.gateway.jobs.serving`, and the jobs worker
(`python -m paneas.gateway.jobs`) does them."""
