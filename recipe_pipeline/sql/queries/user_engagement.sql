-- Conversations, users and messages per conversation by day (the seed's "user engagement").
-- params: start_date, end_date
SELECT
    "date",
    total_conversations,
    unique_users,
    CAST(total_messages AS double) / NULLIF(total_conversations, 0) AS avg_messages_per_conversation
FROM daily_metrics
WHERE "date" BETWEEN ? AND ?
ORDER BY "date" DESC
