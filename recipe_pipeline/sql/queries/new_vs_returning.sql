-- New and returning users per day: new = first seen that day (over user_activity, kept 2 years;
-- conversations are kept 90 days, so a user back after three months would look new in them).
-- params: first_ymd, end_ymd, start_date, end_date
WITH user_days AS (
    SELECT DISTINCT user_id, activity_date
    FROM user_activity
    WHERE (year * 10000 + month * 100 + day) BETWEEN ? AND ?
),
first_seen AS (
    SELECT user_id, MIN(activity_date) AS first_date
    FROM user_days
    GROUP BY user_id
)
SELECT
    CAST(u.activity_date AS varchar) AS "date",
    COUNT_IF(u.activity_date = f.first_date) AS new_users,
    COUNT_IF(u.activity_date > f.first_date) AS returning_users
FROM user_days AS u
JOIN first_seen AS f ON f.user_id = u.user_id
WHERE u.activity_date BETWEEN CAST(? AS date) AND CAST(? AS date)
GROUP BY u.activity_date
ORDER BY u.activity_date
