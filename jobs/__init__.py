"""The background side: the RQ jobs and what they drive (scheduler, cycle, cluster client and backends).

Every 30 s the scheduler enqueues one cycle; a worker runs it: claim queued jobs, submit them, poll
running ones, ingest what the cluster says, stop jobs at their budget, retry cancels. Nothing here
belongs to the pages or the JSON API; both reach the same data through services/.
"""
