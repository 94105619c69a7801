"""The chat backend that runs beside the Ollama sidecar in every LLMService pod.

Routes (the chat and model routes need `Authorization: Bearer <API_KEY>` when API_KEY is set):

    POST /api/chat              Ollama's chat API, NDJSON stream or one object, passed through
    GET  /api/tags, /api/version  Ollama's, read-only, passed through
    POST /v1/chat/completions   OpenAI-compatible; SSE ending `data: [DONE]`, usage included
    GET  /v1/models[/{model}]   OpenAI-compatible model list
    GET  /healthz               the process answers (never calls Ollama)
    GET  /readyz                start-up pull and warm-up done, Ollama answers, the model is
                                present; says whether it is loaded now; pull progress
    GET  /metrics               Prometheus
    GET  /, /static/*           the chat page

Environment (bad values stop the process with exit status 2 and the variable's name):

    OLLAMA_URL                   http://127.0.0.1:11434
    MODEL_NAME                   tinyllama
    MODEL_PULL_POLICY            IfNotPresent    (Always | IfNotPresent | Never)
    MODEL_KEEP_ALIVE             -1              (seconds, or a duration like 5m; -1: forever)
    BACKEND_HOST, BACKEND_PORT   0.0.0.0, 8080
    MAX_CONCURRENT_REQUESTS      4               chat requests upstream at once
    MAX_QUEUED_REQUESTS          32              waiting beyond those; more get 429
    QUEUE_TIMEOUT_SECONDS        600             longest wait in the queue (then 503)
    API_KEY                      (unset: no key) at least 8 characters
    SHUTDOWN_GRACE_SECONDS       30              running streams may finish after SIGTERM
    CONNECT_TIMEOUT_SECONDS      5
    FIRST_TOKEN_TIMEOUT_SECONDS  300             request sent to first token (504 after)
    STREAM_IDLE_TIMEOUT_SECONDS  120             longest silence inside a running stream
    REQUEST_TIMEOUT_SECONDS      1200            a whole request, queue included
    MAX_REQUEST_BODY_BYTES       1048576         larger bodies get 413
    READINESS_CACHE_SECONDS      2               how long a /readyz answer is reused
    PULL_RETRY_SECONDS           10              first pause after a failed pull (doubles)
    PULL_ATTEMPTS                4               pulls before a transient failure is final
    TERMINATION_MESSAGE_PATH     /dev/termination-log  where a final pull failure is written
    LOG_FORMAT, LOG_LEVEL        text, info      (text | json)
    ACCESS_LOG                   true            one log line per request
"""
