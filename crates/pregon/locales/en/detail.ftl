# A campaign's detail page (console/detail.rs). ../es/detail.ftl has the same keys.

detail-title = Campaign detail
detail-back = ← All campaigns
detail-sender = Number
detail-template = Template
detail-created = Created
detail-started = Started
detail-completed = Finished
detail-cost-estimated = Estimated cost
detail-cost-billed = Billed
detail-cost-none = —
# { $amount } with its currency; { $n } recipients or messages without a rate.
detail-cost-amount = { $amount } { $currency }
detail-cost-unpriced = { $count ->
    [one] 1 without a rate
   *[other] { $n } without a rate
}
detail-cost-billable = { $count ->
    [one] 1 billable message
   *[other] { $n } billable messages
}
detail-rate = Rate
detail-rate-unit = messages/s
detail-eta = Estimated finish
detail-counts-title = Messages by state
detail-count-queued = Queued
detail-count-sending = Sending
detail-count-sent = Sent
detail-count-delivered = Delivered
detail-count-read = Read
detail-count-failed = Failed
detail-count-unknown = Unknown
detail-count-skipped = Skipped
detail-count-cancelled = Cancelled
detail-count-expired = Expired

detail-actions-title = Actions
detail-action-start = Start
detail-action-pause = Pause
detail-action-resume = Resume
detail-action-cancel = Cancel the campaign
detail-action-retry-failed = Retry failed
detail-action-retry-unknown = Retry unknown
detail-confirm-cancel = Cancel “{ $name }”? Messages not yet sent will never be. This cannot be undone.
detail-confirm-retry-failed =
    { $count ->
        [one] Queue { $n } failed message again?
       *[other] Queue { $n } failed messages again?
    }
detail-confirm-retry-unknown =
    { $count ->
        [one] { $n } message is unknown: its send was interrupted, and the provider may or may not have delivered it. Retrying it may make the recipient get it twice. Retry anyway?
       *[other] { $n } messages are unknown: their sends were interrupted, and the provider may or may not have delivered them. Retrying them may make some recipients get them twice. Retry anyway?
    }
detail-export = Export CSV
detail-no-actions = Your role may only view this campaign.

detail-failures-title = Failures by provider code
detail-failures-none = No message has failed.
detail-failures-caption = Failed messages grouped by error code
detail-failures-code = Code
detail-failures-count = Messages
detail-failures-message = What the provider said
detail-failures-class = What it means
detail-class-throttled = Provider rate limit
detail-class-retryable = Passing error (retried)
detail-class-permanent = Permanent: this message will not go through
detail-class-campaign = Campaign-wide: the template fails for everyone
detail-class-sender = The number: the provider does not let it send
detail-class-unknown = Unknown

detail-funnel-title = Funnel
detail-funnel-sent = Sent
detail-funnel-delivered = Delivered
detail-funnel-read = Read
detail-funnel-replied = Replied
detail-funnel-bar = { $step }: { $percent } of those sent

detail-chart-title = Sending rate
detail-chart-label = Sending rate over time: peak { $peak }, average { $average }, the number's limit { $limit } messages per second
detail-chart-summary = Rate summary
detail-chart-from = Period
detail-chart-peak = Peak
detail-chart-average = Average
detail-chart-limit = The number's limit
detail-chart-legend = The solid line is the rate estimated from a sample of the messages sent; the dashed line, the number's limit.
detail-chart-none = Not enough has been sent yet to draw the rate.

detail-messages-title = Messages
detail-messages-caption = The campaign's messages
detail-messages-filter = Filter messages by state
detail-messages-all = All
detail-messages-empty = No messages to show.
detail-messages-pager = Pages of messages
detail-search-label = Search messages by phone
detail-search-phone = Phone
detail-search-submit = Search
detail-search-invalid = Not a valid phone number; write it with the country code, like +593991234567.
detail-col-phone = Phone
detail-col-status = State
detail-col-attempts = Attempts
detail-col-error = Error
detail-col-updated = Last change
detail-col-timeline = History
detail-timeline-of = History of { $phone }
detail-timeline-empty = No events.
detail-msg-queued = Queued
detail-msg-claimed = Claimed
detail-msg-sending = Sending
detail-msg-sent = Sent
detail-msg-delivered = Delivered
detail-msg-read = Read
detail-msg-failed = Failed
detail-msg-unknown = Unknown
detail-msg-skipped = Skipped
detail-msg-cancelled = Cancelled
detail-msg-expired = Expired

detail-replies-title = Replies
detail-replies-none = Nobody has replied yet.
detail-replies-opted-out = Opted out
detail-replies-pager = Pages of replies

detail-failure-template_disabled = WhatsApp disabled the template for low quality: it cannot be sent any more
detail-failure-template_rejected = WhatsApp rejected the template
detail-failure-template_deleted = The template was deleted in WhatsApp Manager
