# A campaign's detail page (console/detail.rs). Spanish first; ../en/detail.ftl has the same keys.

detail-title = Detalle de la campaña
detail-back = ← Todas las campañas
detail-sender = Número
detail-template = Plantilla
detail-created = Creada
detail-started = Empezó
detail-completed = Terminó
detail-cost-estimated = Costo estimado
detail-cost-billed = Facturado
detail-cost-none = —
# { $amount } con su moneda; { $n } destinatarios o mensajes sin tarifa.
detail-cost-amount = { $amount } { $currency }
detail-cost-unpriced = { $count ->
    [one] 1 sin tarifa
   *[other] { $n } sin tarifa
}
detail-cost-billable = { $count ->
    [one] 1 mensaje facturable
   *[other] { $n } mensajes facturables
}
detail-rate = Ritmo
detail-rate-unit = mensajes/s
detail-eta = Fin estimado
detail-counts-title = Mensajes por estado
detail-count-queued = En cola
detail-count-sending = Enviándose
detail-count-sent = Enviados
detail-count-delivered = Entregados
detail-count-read = Leídos
detail-count-failed = Fallidos
detail-count-unknown = Desconocidos
detail-count-skipped = Omitidos
detail-count-cancelled = Cancelados
detail-count-expired = Caducados

detail-actions-title = Acciones
detail-action-start = Empezar
detail-action-pause = Pausar
detail-action-resume = Reanudar
detail-action-cancel = Cancelar la campaña
detail-action-retry-failed = Reintentar los fallidos
detail-action-retry-unknown = Reintentar los desconocidos
detail-confirm-cancel = ¿Cancelar «{ $name }»? Los mensajes que aún no salieron no se enviarán. No se puede deshacer.
detail-confirm-retry-failed =
    { $count ->
        [one] ¿Volver a poner en cola { $n } mensaje fallido?
       *[other] ¿Volver a poner en cola { $n } mensajes fallidos?
    }
detail-confirm-retry-unknown =
    { $count ->
        [one] { $n } mensaje está en estado desconocido: el envío se interrumpió y el proveedor pudo haberlo entregado o no. Si lo reintenta, el destinatario podría recibirlo dos veces. ¿Reintentarlo igualmente?
       *[other] { $n } mensajes están en estado desconocido: el envío se interrumpió y el proveedor pudo haberlos entregado o no. Si los reintenta, algunos destinatarios podrían recibirlos dos veces. ¿Reintentarlos igualmente?
    }
detail-export = Exportar CSV
detail-no-actions = Su rol solo permite ver esta campaña.

detail-failures-title = Fallos por código del proveedor
detail-failures-none = Ningún mensaje ha fallado.
detail-failures-caption = Mensajes fallidos agrupados por código de error
detail-failures-code = Código
detail-failures-count = Mensajes
detail-failures-message = Lo que dijo el proveedor
detail-failures-class = Qué significa
detail-class-throttled = Límite de ritmo del proveedor
detail-class-retryable = Error pasajero (se reintentó)
detail-class-permanent = Permanente: este mensaje no pasará
detail-class-campaign = De la campaña: la plantilla falla para todos
detail-class-sender = Del número: el proveedor no lo deja enviar
detail-class-unknown = Desconocido

detail-funnel-title = Embudo
detail-funnel-sent = Enviados
detail-funnel-delivered = Entregados
detail-funnel-read = Leídos
detail-funnel-replied = Respondieron
detail-funnel-bar = { $step }: { $percent } de los enviados

detail-chart-title = Ritmo de envío
detail-chart-label = Ritmo de envío en el tiempo: máximo { $peak }, promedio { $average }, límite del número { $limit } mensajes por segundo
detail-chart-summary = Resumen del ritmo
detail-chart-from = Periodo
detail-chart-peak = Máximo
detail-chart-average = Promedio
detail-chart-limit = Límite del número
detail-chart-legend = La línea continua es el ritmo estimado a partir de una muestra de los mensajes enviados; la línea discontinua, el límite del número.
detail-chart-none = Aún no hay envíos suficientes para dibujar el ritmo.

detail-messages-title = Mensajes
detail-messages-caption = Mensajes de la campaña
detail-messages-filter = Filtrar mensajes por estado
detail-messages-all = Todos
detail-messages-empty = No hay mensajes para mostrar.
detail-messages-pager = Páginas de mensajes
detail-search-label = Buscar mensajes por teléfono
detail-search-phone = Teléfono
detail-search-submit = Buscar
detail-search-invalid = No es un número de teléfono válido; escríbalo con el código del país, como +593991234567.
detail-col-phone = Teléfono
detail-col-status = Estado
detail-col-attempts = Intentos
detail-col-error = Error
detail-col-updated = Último cambio
detail-col-timeline = Historial
detail-timeline-of = Historial de { $phone }
detail-timeline-empty = Sin eventos.
detail-msg-queued = En cola
detail-msg-claimed = Reservado
detail-msg-sending = Enviándose
detail-msg-sent = Enviado
detail-msg-delivered = Entregado
detail-msg-read = Leído
detail-msg-failed = Fallido
detail-msg-unknown = Desconocido
detail-msg-skipped = Omitido
detail-msg-cancelled = Cancelado
detail-msg-expired = Caducado

detail-replies-title = Respuestas
detail-replies-none = Nadie ha respondido todavía.
detail-replies-opted-out = Se dio de baja
detail-replies-pager = Páginas de respuestas

detail-failure-template_disabled = WhatsApp deshabilitó la plantilla por baja calidad: no puede enviarse más
detail-failure-template_rejected = WhatsApp rechazó la plantilla
detail-failure-template_deleted = La plantilla se borró en WhatsApp Manager
