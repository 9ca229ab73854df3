-- Messages and conversations by ISO day of week (1 = Monday) and UTC hour of day.
-- params: start_ymd, end_ymd
SELECT
    day_of_week(message_ts) AS day_of_week,
    hour(message_ts) AS hour_of_day,
    COUNT(*) AS messages,
    COUNT(DISTINCT conversation_id) AS conversations
FROM recipe_conversations
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
GROUP BY 1, 2
ORDER BY 1, 2
