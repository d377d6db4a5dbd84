# The senders page. ../es/senders.ftl comes first and has the same keys.

senders-title = Senders
senders-add = Add sender
senders-table-caption = The business's WhatsApp numbers
senders-count =
    { $count ->
        [one] { $n } number
       *[other] { $n } numbers
    }
senders-col-name = Name
senders-col-provider = Provider
senders-col-phone = Phone
senders-col-status = Status
senders-col-quality = Quality
senders-col-tier = Messaging tier
senders-col-usage = Today's use
senders-col-rate = Rate
senders-col-actions = Actions
senders-empty = No numbers yet.
senders-status-active = Active
senders-status-paused = Paused
senders-status-suspended = Suspended
senders-provider-meta = Meta (WhatsApp Cloud API)
senders-provider-twilio = Twilio
senders-provider-sandbox = Sandbox (no real sends)
senders-default = Default
senders-usage-label = Daily use of { $name }
senders-usage-text = { $used } of { $limit }
senders-no-limit = No daily limit
senders-rate-value = { $rate } msg/s
senders-pause = Pause
senders-pause-of = Pause { $name }
senders-resume = Resume
senders-resume-of = Resume { $name }
senders-edit = Edit
senders-edit-of = Edit { $name }
senders-edit-title = Edit { $name }
senders-test = Test connection
senders-test-of = Test connection of { $name }
senders-test-running = Testing the connection of { $name }…
senders-test-ok = Connection OK with { $name }. { $facts }
senders-test-failed = The connection with { $name } failed: { $reason }
senders-test-quality = Quality: { $quality }.
senders-test-tier = Tier: { $tier }.
senders-test-templates = Templates in the account: { $count }.
senders-field-provider = Provider
senders-field-name = Name
senders-field-phone = Own number
senders-field-phone-hint = In international format, e.g. +593995683452.
senders-credentials-meta = Meta credentials
senders-credentials-twilio = Twilio credentials
senders-credentials-keep = Credentials are never shown. Leave the fields empty to keep them; filling any replaces them all at once.
senders-field-access-token = Access token
senders-field-phone-number-id = Phone number ID (phone_number_id)
senders-field-waba-id = WhatsApp Business Account (waba_id)
senders-field-app-secret = App secret
senders-field-account-sid = Account SID
senders-field-auth-token = Auth token
senders-field-messaging-service = Messaging Service SID (optional)
senders-field-base-url = Provider address (optional)
senders-field-base-url-hint = Only for simulators or tests; empty uses the provider's.
senders-field-rate = Messages per second
senders-field-rate-hint = Empty uses the provider's default.
senders-field-daily-limit = Daily recipient limit (optional)
senders-field-default = Default sender
senders-save = Save changes
senders-create = Add sender
