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
campaigns-filter-label = Filter by state
campaigns-filter-all = All

campaign-reason-scheduled = Scheduled
campaign-reason-user = Paused by a person
campaign-reason-too_many_failures = Paused: too many failed sends
campaign-reason-sender_error = Paused: the provider refused the number
campaign-reason-template_error = Paused: the provider refused the template
campaign-reason-daily_limit = Paused: the number's daily limit is reached
campaign-reason-outside_window = Outside the sending window
campaign-reason-sender_paused = Waiting for the number to be active again
campaign-reason-template_paused = Paused: WhatsApp paused the template for low quality; it goes on by itself once the template is approved again
campaign-reason-other = Waiting
campaign-waiting-until = { $reason }; goes on by itself on { $when }
