-- Tool usage and adoption: uses, conversations using each tool, and their share of all conversations in the range.
-- params: read_start_ymd, read_end_ymd, start_date, end_date
-- A conversation belongs to the day of its first message, with all its messages, as in
-- conversation_outcomes: the day either side of the range is read too (read_*_ymd), so one
-- crossing an edge is neither split nor counted in two ranges.
WITH read_rows AS (
    SELECT conversation_id, message_ts, tools_used
    FROM recipe_conversations
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
conversations AS (
    SELECT conversation_id
    FROM (SELECT conversation_id, CAST(MIN(message_ts) AS date) AS first_day FROM read_rows GROUP BY conversation_id)
    WHERE first_day BETWEEN CAST(? AS date) AND CAST(? AS date)
),
tool_uses AS (
    SELECT t.tool, r.conversation_id
    FROM read_rows r
    JOIN conversations c ON r.conversation_id = c.conversation_id
    CROSS JOIN UNNEST(r.tools_used) AS t (tool)
),
total AS (
    SELECT COUNT(*) AS conversations FROM conversations
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
