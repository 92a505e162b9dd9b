"""Every span attribute name moxtrace writes, in one place.

GenAI names follow the OpenTelemetry GenAI semantic conventions (latest experimental);
messaging names follow the messaging conventions; ``moxn.*`` names are our own.
"""

from __future__ import annotations

from typing import Final

from moxtrace.types.content import Provider

# GenAI
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
ERROR_TYPE: Final = "error.type"

OPERATION_CHAT: Final = "chat"

CONTENT_ATTRIBUTES: Final = frozenset(
    {
        GEN_AI_INPUT_MESSAGES,
        GEN_AI_OUTPUT_MESSAGES,
        GEN_AI_SYSTEM_INSTRUCTIONS,
        GEN_AI_TOOL_DEFINITIONS,
    }
)
"""Attributes holding message content: subject to the content policy."""

PROVIDER_NAMES: Final[dict[Provider, str]] = {
    Provider.ANTHROPIC: "anthropic",
    Provider.OPENAI_CHAT: "openai",
    Provider.OPENAI_RESPONSES: "openai",
    Provider.GOOGLE_GEMINI: "gcp.gemini",
    Provider.GOOGLE_VERTEX: "gcp.vertex_ai",
}
"""``Provider`` to the well-known ``gen_ai.provider.name`` values."""

# Moxn identity and metadata
MOXN_PROMPT_ID: Final = "moxn.prompt.id"
MOXN_PROMPT_NAME: Final = "moxn.prompt.name"
MOXN_TASK_ID: Final = "moxn.task.id"
MOXN_COMMIT_ID: Final = "moxn.commit.id"
MOXN_BRANCH_ID: Final = "moxn.branch.id"
MOXN_BRANCH_NAME: Final = "moxn.branch.name"
MOXN_SESSION_ID: Final = "moxn.session.id"
MOXN_METADATA_PREFIX: Final = "moxn.metadata."
MOXN_TRUNCATED: Final = "moxn.truncated"
MOXN_SPAN_KIND: Final = "moxn.span.kind"
MOXN_LLM_TOOL_CALL_COUNT: Final = "moxn.llm.tool_call.count"
MOXN_LLM_STOP_REASON: Final = "moxn.llm.stop_reason"
MOXN_LLM_TIME_TO_FIRST_CHUNK_MS: Final = "moxn.llm.time_to_first_chunk_ms"

IDENTITY_ATTRIBUTES: Final[dict[str, str]] = {
    "prompt_id": MOXN_PROMPT_ID,
    "prompt_name": MOXN_PROMPT_NAME,
    "task_id": MOXN_TASK_ID,
    "commit_id": MOXN_COMMIT_ID,
    "branch_id": MOXN_BRANCH_ID,
    "branch_name": MOXN_BRANCH_NAME,
    "session_id": MOXN_SESSION_ID,
}
"""Identity field name to span attribute name."""

# Messaging (Kafka)
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
MESSAGING_DESTINATION_PARTITION_ID: Final = "messaging.destination.partition.id"
MESSAGING_CONSUMER_GROUP_NAME: Final = "messaging.consumer.group.name"
MESSAGING_KAFKA_MESSAGE_KEY: Final = "messaging.kafka.message.key"
MESSAGING_BATCH_MESSAGE_COUNT: Final = "messaging.batch.message_count"

# HTTP client (the Moxn API calls of MoxnClient / SyncMoxnClient, moxtrace.http)
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_REQUEST_RESEND_COUNT: Final = "http.request.resend_count"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_FULL: Final = "url.full"
URL_TEMPLATE: Final = "url.template"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
MOXN_API_OPERATION: Final = "moxn.api.operation"
