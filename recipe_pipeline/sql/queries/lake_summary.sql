-- Days, messages, conversations, users and distinct recipes mentioned in a date range of recipe_conversations.
-- params: start_ymd, end_ymd
SELECT
    COUNT(DISTINCT year * 10000 + month * 100 + day) AS days,
    COUNT(*) AS messages,
    COUNT(DISTINCT conversation_id) AS conversations,
    COUNT(DISTINCT user_id) AS users,
    COUNT(DISTINCT recipe_name) AS recipes
FROM recipe_conversations
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
