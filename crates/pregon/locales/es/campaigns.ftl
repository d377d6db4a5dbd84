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
campaigns-filter-label = Filtrar por estado
campaigns-filter-all = Todas

campaign-reason-scheduled = Programada
campaign-reason-user = En pausa por una persona
campaign-reason-too_many_failures = En pausa: demasiados envíos fallidos
campaign-reason-sender_error = En pausa: el proveedor rechazó el número
campaign-reason-template_error = En pausa: el proveedor rechazó la plantilla
campaign-reason-daily_limit = En pausa: se alcanzó el límite diario del número
campaign-reason-outside_window = Fuera del horario de envío
campaign-reason-sender_paused = Esperando a que el número vuelva a estar activo
campaign-reason-template_paused = En pausa: WhatsApp pausó la plantilla por baja calidad; sigue sola cuando vuelva a estar aprobada
campaign-reason-other = En espera
campaign-waiting-until = { $reason }; sigue sola el { $when }
