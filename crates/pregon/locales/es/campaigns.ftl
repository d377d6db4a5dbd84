# The campaigns list. Spanish first; ../en/campaigns.ftl has the same keys.

campaigns-title = Campañas
campaigns-new = Nueva campaña
campaigns-table-caption = Campañas de la empresa
campaigns-col-name = Nombre
campaigns-col-status = Estado
campaigns-col-progress = Progreso
campaigns-col-sent = Enviados
campaigns-col-failed = Fallidos
campaigns-col-unknown = Desconocidos
campaigns-col-skipped = Omitidos
campaigns-col-rate = Ritmo
campaigns-col-eta = Fin estimado
campaigns-empty = No hay campañas para mostrar.
campaigns-signin-title = Inicia sesión para ver tus campañas
campaigns-signin-body = El inicio de sesión de la consola llega pronto. Mientras tanto, las campañas se crean y se siguen con la API o con el comando { $command }.
campaigns-count =
    { $count ->
        [one] { $n } campaña
       *[other] { $n } campañas
    }
campaigns-progress-label = Progreso de { $name }: { $percent }

campaign-status-draft = Borrador
campaign-status-scheduled = Programada
campaign-status-running = Enviando
campaign-status-paused = En pausa
campaign-status-completed = Completada
campaign-status-cancelled = Cancelada
campaign-status-failed = Fallida
