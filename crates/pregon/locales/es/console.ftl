# The console's frame: layout, navigation, language, shared words. Spanish first: every
# key here must also be in ../en/console.ftl (a unit test checks both ways).

product-name = pregon
product-tagline = Campañas de WhatsApp, enviadas una sola vez

skip-to-content = Saltar al contenido

nav-label = Principal
nav-campaigns = Campañas
nav-new-campaign = Nueva campaña
nav-templates = Plantillas
nav-senders = Números
nav-messages = Mensajes
nav-audience = Audiencia
nav-settings = Configuración
nav-system = Sistema

language-label = Idioma
language-es = Español
language-en = English

account-signed-out = Sin sesión iniciada
account-signed-in = Sesión de { $name }
account-tenant = Empresa: { $tenant }

footer-version = pregon { $version }
footer-api-docs = Documentación de la API
footer-openapi = OpenAPI

confirm-title = ¿Confirmas esta acción?
confirm-accept = Sí, continuar
confirm-cancel = Cancelar

announce-error = No se pudo completar: { $reason }
announce-network = No hay conexión con el servidor. Inténtalo de nuevo.
announce-done = Hecho.


month-1 = ene
month-2 = feb
month-3 = mar
month-4 = abr
month-5 = may
month-6 = jun
month-7 = jul
month-8 = ago
month-9 = sept
month-10 = oct
month-11 = nov
month-12 = dic

pager-label = Páginas
pager-first = Primera página
pager-next = Siguiente página

error-back = Volver a las campañas
error-not-found-title = No se encontró
error-not-found-body = Lo que buscas no existe, o pertenece a otra empresa.
error-forbidden-title = Sin permiso
error-forbidden-body = Tu rol no permite ver esta página. Pide a quien administra la cuenta que te dé acceso.
error-other-title = Algo salió mal
error-other-body = No se pudo mostrar esta página. Inténtalo de nuevo en un momento.
