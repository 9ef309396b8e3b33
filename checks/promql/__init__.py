"""PromQL on one scrape: the evaluator and its functions, the history kept between runs
(state files), the judging shared by check_metrics and check_etcd metrics, rules files."""
