"""The job monitor, `/training/jobs/<job_id>`: page, layout, reads and the values its callbacks send."""
