# The senders page. Spanish first; ../en/senders.ftl has the same keys.

senders-title = Números
senders-add = Agregar número
senders-table-caption = Números de WhatsApp de la empresa
senders-count =
    { $count ->
        [one] { $n } número
       *[other] { $n } números
    }
senders-col-name = Nombre
senders-col-provider = Proveedor
senders-col-phone = Teléfono
senders-col-status = Estado
senders-col-quality = Calidad
senders-col-tier = Nivel de mensajería
senders-col-usage = Uso de hoy
senders-col-rate = Ritmo
senders-col-actions = Acciones
senders-empty = Todavía no hay números.
senders-status-active = Activo
senders-status-paused = En pausa
senders-status-suspended = Suspendido
senders-provider-meta = Meta (WhatsApp Cloud API)
senders-provider-twilio = Twilio
senders-provider-sandbox = Pruebas (sin envíos reales)
senders-default = Predeterminado
senders-usage-label = Uso diario de { $name }
senders-usage-text = { $used } de { $limit }
senders-no-limit = Sin límite diario
senders-rate-value = { $rate } msj/s
senders-pause = Pausar
senders-pause-of = Pausar { $name }
senders-resume = Reanudar
senders-resume-of = Reanudar { $name }
senders-edit = Editar
senders-edit-of = Editar { $name }
senders-edit-title = Editar { $name }
senders-test = Probar conexión
senders-test-of = Probar conexión de { $name }
senders-test-running = Probando la conexión de { $name }…
senders-test-ok = Conexión correcta con { $name }. { $facts }
senders-test-failed = La conexión con { $name } falló: { $reason }
senders-test-quality = Calidad: { $quality }.
senders-test-tier = Nivel: { $tier }.
senders-test-templates = Plantillas en la cuenta: { $count }.
senders-field-provider = Proveedor
senders-field-name = Nombre
senders-field-phone = Número propio
senders-field-phone-hint = En formato internacional, p. ej. +593995683452.
senders-credentials-meta = Credenciales de Meta
senders-credentials-twilio = Credenciales de Twilio
senders-credentials-keep = Las credenciales no se muestran nunca. Deje los campos vacíos para conservarlas; si escribe alguno, se reemplazan todas a la vez.
senders-field-access-token = Token de acceso
senders-field-phone-number-id = Identificador del número (phone_number_id)
senders-field-waba-id = Cuenta de WhatsApp Business (waba_id)
senders-field-app-secret = Secreto de la aplicación
senders-field-account-sid = Account SID
senders-field-auth-token = Auth token
senders-field-messaging-service = Messaging Service SID (opcional)
senders-field-base-url = Dirección del proveedor (opcional)
senders-field-base-url-hint = Sólo para simuladores o pruebas; vacía usa la del proveedor.
senders-field-rate = Mensajes por segundo
senders-field-rate-hint = Vacío usa el valor del proveedor.
senders-field-daily-limit = Límite diario de destinatarios (opcional)
senders-field-default = Número predeterminado
senders-save = Guardar cambios
senders-create = Agregar número
