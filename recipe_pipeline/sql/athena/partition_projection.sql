-- The tables' partition projection (year/month/day from the lake's Hive-style keys), filled into
-- each table's TBLPROPERTIES: no per-day DDL, never MSCK REPAIR TABLE.
    'projection.enabled' = 'true',
    'projection.year.type' = 'integer',
    'projection.year.range' = '{first_year},2099',
    'projection.month.type' = 'integer',
    'projection.month.range' = '1,12',
    'projection.month.digits' = '2',
    'projection.day.type' = 'integer',
    'projection.day.range' = '1,31',
    'projection.day.digits' = '2',
    'storage.location.template' = '{location}/year=${{year}}/month=${{month}}/day=${{day}}/'
