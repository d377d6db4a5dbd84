# The templates page. Spanish first; ../en/templates.ftl has the same keys.

templates-title = Plantillas
templates-new = Nueva plantilla
templates-table-caption = Plantillas de la empresa
templates-count =
    { $count ->
        [one] { $n } plantilla
       *[other] { $n } plantillas
    }
templates-col-name = Nombre
templates-col-language = Idioma
templates-col-category = Categoría
templates-col-status = Estado
templates-col-quality = Calidad
templates-col-body = Texto
templates-col-created = Creada
templates-col-actions = Acciones
templates-empty = Todavía no hay plantillas.
templates-category-marketing = Marketing
templates-category-utility = Utilidad
templates-category-authentication = Autenticación
templates-status-approved = Aprobada
templates-status-pending = En revisión
templates-status-paused = En pausa
templates-status-disabled = Desactivada
templates-status-rejected = Rechazada
templates-quality-green = Calidad alta
templates-quality-yellow = Calidad media
templates-quality-red = Calidad baja
templates-quality-unknown = Sin calificar
templates-preview = Vista previa
templates-preview-of = Vista previa de { $name }
templates-preview-title = Vista previa: { $name }
templates-preview-variable = Valor de ejemplo para { $name }
templates-preview-no-variables = Esta plantilla no tiene variables.
templates-preview-render = Mostrar vista previa
templates-preview-result = Mensaje como lo verá el destinatario
templates-preview-missing = Faltan valores para: { $names }
templates-delete = Eliminar
templates-delete-of = Eliminar { $name }
templates-delete-confirm = ¿Eliminar la plantilla { $name }? Las campañas que ya la usan siguen mostrándola.
templates-sync-from = Sincronizar desde WhatsApp ({ $sender })
templates-field-name = Nombre en el proveedor
templates-field-name-hint = El nombre aprobado de la plantilla, p. ej. recordatorio_pago.
templates-field-language = Código de idioma
templates-field-language-hint = Por ejemplo es, en_US.
templates-field-category = Categoría
templates-field-body = Texto del mensaje
templates-field-body-hint = Use {"{{"}variable{"}}"} para los datos de cada contacto, p. ej. Hola {"{{"}nombre{"}}"}.
templates-field-header = Imagen de cabecera (opcional)
templates-field-header-hint = Una dirección https:// o una {"{{"}variable{"}}"}.
templates-create = Crear plantilla
