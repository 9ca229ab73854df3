-- Conversations, users and messages per conversation by day (the seed's "user engagement").
-- params: start_ymd, end_ymd, start_date, end_date
-- The partition columns bound the read (Athena lists only those days' objects), the date the rows.
SELECT
    "date",
    total_conversations,
    unique_users,
    CAST(total_messages AS double) / NULLIF(total_conversations, 0) AS avg_messages_per_conversation
FROM daily_metrics
WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
    AND "date" BETWEEN ? AND ?
ORDER BY "date" DESC
