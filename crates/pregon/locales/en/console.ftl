# The console's frame: layout, navigation, language, shared words. English second: every
# key here must also be in ../es/console.ftl (a unit test checks both ways).

product-name = pregon
product-tagline = WhatsApp campaigns, sent once

skip-to-content = Skip to content

nav-label = Main
nav-campaigns = Campaigns
nav-new-campaign = New campaign
nav-templates = Templates
nav-senders = Senders
nav-messages = Messages
nav-audience = Audience
nav-settings = Settings
nav-system = System

language-label = Language
language-es = Español
language-en = English

account-signed-out = Not signed in
account-signed-in = Signed in as { $name }
account-tenant = Business: { $tenant }

footer-version = pregon { $version }
footer-api-docs = API documentation
footer-openapi = OpenAPI

confirm-title = Are you sure?
confirm-accept = Yes, continue
confirm-cancel = Cancel

announce-error = Could not complete: { $reason }
announce-network = The server cannot be reached. Try again.
announce-done = Done.


month-1 = Jan
month-2 = Feb
month-3 = Mar
month-4 = Apr
month-5 = May
month-6 = Jun
month-7 = Jul
month-8 = Aug
month-9 = Sep
month-10 = Oct
month-11 = Nov
month-12 = Dec

pager-label = Pages
pager-first = First page
pager-next = Next page

error-back = Back to the campaigns
error-not-found-title = Not found
error-not-found-body = What you are looking for does not exist, or belongs to another business.
error-forbidden-title = Not allowed
error-forbidden-body = Your role does not allow this page. Ask an owner of the account for access.
error-other-title = Something went wrong
error-other-body = This page could not be shown. Please try again in a moment.
