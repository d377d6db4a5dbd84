# The templates page. ../es/templates.ftl comes first and has the same keys.

templates-title = Templates
templates-new = New template
templates-table-caption = The business's templates
templates-count =
    { $count ->
        [one] { $n } template
       *[other] { $n } templates
    }
templates-col-name = Name
templates-col-language = Language
templates-col-category = Category
templates-col-status = Status
templates-col-quality = Quality
templates-col-body = Text
templates-col-created = Created
templates-col-actions = Actions
templates-empty = No templates yet.
templates-category-marketing = Marketing
templates-category-utility = Utility
templates-category-authentication = Authentication
templates-status-approved = Approved
templates-status-pending = In review
templates-status-paused = Paused
templates-status-disabled = Disabled
templates-status-rejected = Rejected
templates-quality-green = High quality
templates-quality-yellow = Medium quality
templates-quality-red = Low quality
templates-quality-unknown = Not rated
templates-preview = Preview
templates-preview-of = Preview { $name }
templates-preview-title = Preview: { $name }
templates-preview-variable = Sample value for { $name }
templates-preview-no-variables = This template has no variables.
templates-preview-render = Show preview
templates-preview-result = The message as the recipient will see it
templates-preview-missing = Values missing for: { $names }
templates-delete = Delete
templates-delete-of = Delete { $name }
templates-delete-confirm = Delete the template { $name }? Campaigns already using it keep showing it.
templates-sync-from = Sync from WhatsApp ({ $sender })
templates-field-name = Name at the provider
templates-field-name-hint = The template's approved name, e.g. payment_reminder.
templates-field-language = Language code
templates-field-language-hint = For example es, en_US.
templates-field-category = Category
templates-field-body = Message text
templates-field-body-hint = Use {"{{"}variable{"}}"} for each contact's data, e.g. Hi {"{{"}name{"}}"}.
templates-field-header = Header image (optional)
templates-field-header-hint = An https:// address or a {"{{"}variable{"}}"}.
templates-create = Create template
