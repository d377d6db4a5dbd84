# The system page. ../es/system.ftl has the same keys.

system-title = System
system-database = Database
system-database-ok = Answering
system-database-down = Not answering
system-queue-depth = Messages queued (all tenants)
system-running = Campaigns sending
system-dispatchers = Dispatcher processes
system-col-host = Host and process
system-col-state = State
system-col-heartbeat = Last heartbeat
system-col-senders = Numbers it holds
system-col-rate = Messages per second
system-col-version = Version
system-col-started = Started
system-dispatcher-alive = Alive
system-dispatcher-late = No recent heartbeat
system-no-senders = None
system-no-dispatchers = No dispatcher is running: nothing is sent until one starts (pregon serve or pregon dispatch).
system-other-senders =
    { $count ->
        [one] and { $n } number of another tenant
       *[other] and { $n } numbers of other tenants
    }
