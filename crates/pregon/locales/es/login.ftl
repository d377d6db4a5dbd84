# Signing in and out. Spanish first; ../en/login.ftl has the same keys.

login-title = Iniciar sesión
login-email = Correo electrónico
login-password = Contraseña
login-submit = Entrar
login-hint = La primera vez, pregon muestra en su salida el correo y la contraseña de quien administra la cuenta. Quien administra puede crear más usuarios en Configuración, o con el comando pregon user create.
login-error-credentials = El correo o la contraseña no son correctos.
login-error-locked =
    { $count ->
        [one] Demasiados intentos fallidos con este correo. Vuelve a intentarlo en { $n } minuto.
       *[other] Demasiados intentos fallidos con este correo. Vuelve a intentarlo en { $n } minutos.
    }
login-error-other = No se pudo iniciar la sesión. Inténtalo de nuevo.
logout = Cerrar sesión
