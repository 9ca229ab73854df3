-- Conversation outcomes: the seed's completion estimate (High > 5 messages, Medium > 3, else Low) and a satisfaction signal per conversation.
-- params: read_start_ymd, read_end_ymd, start_date, end_date
-- A conversation belongs to the day of its first message and counts all its messages: the day
-- either side of the range is read too (read_*_ymd), so one crossing an edge is neither split nor
-- counted twice. One lasting more than a day past the range is cut there; sessions last minutes.
-- satisfaction: 'satisfied' if a user message thanks or reports success ("it worked", "delicious") or rates 4-5;
-- 'dissatisfied' if one reports failure ("didn't help", "burned", "too dry") or rates 1-2 (dissatisfaction wins); else 'unknown'.
-- Whole words, so a question ("how do I keep it from burning?") is no failure report; the word's
-- edges are spelled out as ASCII classes rather than \b, which is ASCII in DuckDB's RE2 but may
-- follow Unicode in Athena's engine ("とてもperfect" would differ). "didn.?t" also takes a
-- typographic apostrophe or none.
WITH per_conversation AS (
    SELECT
        conversation_id,
        CAST(MIN(message_ts) AS date) AS first_day,
        COUNT(*) AS messages,
        MAX(CASE WHEN role = 'user' AND (rating >= 4 OR regexp_like(lower(message), '(^|[^a-z0-9_])(thanks?|thx|it worked|worked perfectly|delicious|loved it|family loved|perfect|perfectly)([^a-z0-9_]|$)')) THEN 1 ELSE 0 END) AS positive,
        MAX(CASE WHEN role = 'user' AND (rating <= 2 OR regexp_like(lower(message), '(^|[^a-z0-9_])(didn.?t help|did not help|not helpful|burned|burnt|too dry|not what i was looking for|disgusting|ruined)([^a-z0-9_]|$)')) THEN 1 ELSE 0 END) AS negative
    FROM recipe_conversations
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
    GROUP BY conversation_id
)
SELECT
    CASE WHEN messages > 5 THEN 'High' WHEN messages > 3 THEN 'Medium' ELSE 'Low' END AS completion,
    CASE WHEN negative = 1 THEN 'dissatisfied' WHEN positive = 1 THEN 'satisfied' ELSE 'unknown' END AS satisfaction,
    COUNT(*) AS conversations
FROM per_conversation
WHERE first_day BETWEEN CAST(? AS date) AND CAST(? AS date)
GROUP BY 1, 2
ORDER BY 1, 2
