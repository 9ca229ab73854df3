-- Athena returns maps as "k=v" text; the daily metrics query is wrapped so they come back as
-- JSON. The placeholder below takes the text of queries/daily_metrics.sql (its ? parameters unchanged).
WITH metrics AS (
{daily_metrics}
)
SELECT
    total_conversations,
    unique_users,
    json_format(CAST(recipes_discussed AS JSON)) AS recipes_discussed,
    total_messages,
    avg_conversation_length,
    user_messages,
    assistant_messages,
    tool_messages,
    conversations_with_recipe,
    pii_redactions,
    json_format(CAST(messages_by_hour AS JSON)) AS messages_by_hour,
    json_format(CAST(tool_usage AS JSON)) AS tool_usage
FROM metrics
