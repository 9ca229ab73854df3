-- Daily metrics for one UTC day of recipe_conversations (Athena/Trino dialect; DuckDB runs it
-- transpiled by sqlglot). The seed's fields plus role counts, messages by hour and tool usage.
-- params: year, month, day
-- The row's "date" is added by the caller: Athena takes execution parameters only in WHERE
-- clauses ("SELECT ? FROM table is not supported"), and the partition columns are NULL on an empty day.
WITH day_messages AS (
    SELECT *
    FROM recipe_conversations
    WHERE year = ? AND month = ? AND day = ?
),
recipe_counts AS (
    SELECT recipe_name, COUNT(*) AS mentions
    FROM day_messages
    WHERE recipe_name IS NOT NULL
    GROUP BY recipe_name
),
hour_counts AS (
    SELECT lpad(CAST(hour(message_ts) AS varchar), 2, '0') AS hour_of_day, COUNT(*) AS messages
    FROM day_messages
    GROUP BY 1
),
tool_counts AS (
    SELECT t.tool, COUNT(*) AS uses
    FROM day_messages
    CROSS JOIN UNNEST(tools_used) AS t (tool)
    GROUP BY t.tool
)
SELECT
    COUNT(DISTINCT conversation_id) AS total_conversations,
    COUNT(DISTINCT user_id) AS unique_users,
    (SELECT map(array_agg(recipe_name), array_agg(mentions)) FROM recipe_counts) AS recipes_discussed,
    COUNT(*) AS total_messages,
    COALESCE(CAST(COUNT(*) AS double) / NULLIF(COUNT(DISTINCT conversation_id), 0), 0.0) AS avg_conversation_length,
    COALESCE(COUNT_IF(role = 'user'), 0) AS user_messages,
    COALESCE(COUNT_IF(role = 'assistant'), 0) AS assistant_messages,
    COALESCE(COUNT_IF(role = 'tool'), 0) AS tool_messages,
    COUNT(DISTINCT CASE WHEN has_recipe THEN conversation_id END) AS conversations_with_recipe,
    COALESCE(SUM(pii_redactions), 0) AS pii_redactions,
    (SELECT map(array_agg(hour_of_day), array_agg(messages)) FROM hour_counts) AS messages_by_hour,
    (SELECT map(array_agg(tool), array_agg(uses)) FROM tool_counts) AS tool_usage
FROM day_messages
