# The system page. Spanish first; ../en/system.ftl has the same keys.

system-title = Sistema
system-database = Base de datos
system-database-ok = Responde
system-database-down = No responde
system-queue-depth = Mensajes en cola (todas las empresas)
system-running = Campañas enviando
system-dispatchers = Procesos de envío
system-col-host = Equipo y proceso
system-col-state = Estado
system-col-heartbeat = Último latido hace
system-col-senders = Números que atiende
system-col-rate = Mensajes por segundo
system-col-version = Versión
system-col-started = Iniciado
system-dispatcher-alive = Activo
system-dispatcher-late = Sin latido reciente
system-no-senders = Ninguno
system-no-dispatchers = Ningún proceso de envío está activo: no se envía nada hasta que uno arranque (pregon serve o pregon dispatch).
system-other-senders =
    { $count ->
        [one] y { $n } número de otra empresa
       *[other] y { $n } números de otras empresas
    }
