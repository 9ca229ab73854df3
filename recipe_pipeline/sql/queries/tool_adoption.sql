-- Tool usage and adoption: uses, conversations using each tool, and their share of all conversations in the range.
-- params: start_ymd, end_ymd, start_ymd, end_ymd
WITH tool_uses AS (
    SELECT t.tool, conversation_id
    FROM recipe_conversations
    CROSS JOIN UNNEST(tools_used) AS t (tool)
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
total AS (
    SELECT COUNT(DISTINCT conversation_id) AS conversations
    FROM recipe_conversations
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
)
SELECT
    tool,
    COUNT(*) AS uses,
    COUNT(DISTINCT conversation_id) AS conversations_using,
    CAST(COUNT(DISTINCT conversation_id) AS double) / MAX(total.conversations) AS adoption_rate
FROM tool_uses
CROSS JOIN total
GROUP BY tool
ORDER BY conversations_using DESC, tool
