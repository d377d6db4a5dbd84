# The campaigns list. English second; ../es/campaigns.ftl has the same keys.

campaigns-title = Campaigns
campaigns-new = New campaign
campaigns-table-caption = The business's campaigns
campaigns-col-name = Name
campaigns-col-status = Status
campaigns-col-progress = Progress
campaigns-col-sent = Sent
campaigns-col-failed = Failed
campaigns-col-unknown = Unknown
campaigns-col-skipped = Skipped
campaigns-col-rate = Rate
campaigns-col-eta = ETA
campaigns-empty = There are no campaigns to show.
campaigns-signin-title = Sign in to see your campaigns
campaigns-signin-body = Signing in to the console is coming soon. Until then, campaigns are created and followed through the API or the { $command } command.
campaigns-count =
    { $count ->
        [one] { $n } campaign
       *[other] { $n } campaigns
    }
campaigns-progress-label = Progress of { $name }: { $percent }

campaign-status-draft = Draft
campaign-status-scheduled = Scheduled
campaign-status-running = Sending
campaign-status-paused = Paused
campaign-status-completed = Completed
campaign-status-cancelled = Cancelled
campaign-status-failed = Failed
