# Accueil de l'application mobile (placement app.onboarding).

app-onboarding-title = Bienvenue dans l'application Northwind
app-onboarding-body =
    { $device ->
        [tablet] Parcourez tout le catalogue sur grand écran et enregistrez vos favoris pour plus tard.
       *[other] Scannez les codes-barres en magasin, enregistrez vos favoris et payez en quelques secondes.
    }
app-onboarding-cta-label = Commencer

app-onboarding-returning-title = Ravis de vous revoir
app-onboarding-returning-body =
    { $order_count ->
        [one] Votre commande et son reçu sont désormais réunis au même endroit, dans Compte.
       *[other] Vos { $order_count } commandes et leurs reçus sont désormais réunis au même endroit, dans Compte.
    }
    .anonymous = Toutes vos commandes et leurs reçus sont désormais réunis au même endroit, dans Compte.

app-onboarding-new-title = Bonjour { $first_name }, bienvenue à bord !
    .anonymous = Bienvenue à bord !
app-onboarding-new-body = Activez les notifications pour être parmi les premiers informés des réassorts et des offres membres.
app-onboarding-new-cta-label = Activer les notifications
